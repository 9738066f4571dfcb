# lit configuration for Tessera's file tests.
import os
import lit.formats

config.name = "Tessera"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".tsr", ".mlir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tessera_obj_root, "tests", "lit")

config.substitutions.append(("%exitcode", config.python + " " + os.path.join(os.path.dirname(__file__), "exit_code.py")))
config.substitutions.append(("%tesserac", config.tesserac))
config.substitutions.append(("%tessera_opt", config.tessera_opt))
config.substitutions.append(("%FileCheck", config.filecheck))
config.substitutions.append(("%python", config.python))
# Debian's interpreter, with python3-numpy and python3-torch (the first python3 on PATH may lack them).
config.substitutions.append(("%numpy", "/usr/bin/python3"))
config.substitutions.append(("%cc", ("clang-19 " + getattr(config, "cc_flags", "")).strip()))
# Under make test-sanitize: Python loads our (instrumented) libraries with the ASan runtime
# preloaded, without leak checking of the interpreter itself; and ASan's warning when an
# impossible allocation returns null (what the out-of-memory tests provoke) is dropped.
sanitized = "-fsanitize" in getattr(config, "cc_flags", "")
if sanitized:
    import subprocess
    asan_rt = subprocess.run(["clang-19", "-print-file-name=libclang_rt.asan-x86_64.so"], capture_output=True,
                             text=True).stdout.strip()
    config.substitutions.append(("%host_numpy", f"env LD_PRELOAD={asan_rt} ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3"))
else:
    config.substitutions.append(("%host_numpy", "/usr/bin/python3"))
config.substitutions.append(("%drop_asan_warnings", "grep -v 'WARNING: AddressSanitizer failed to allocate'"))
# Under make test-sanitize the sanitizers' options reach the programs lit runs; a forced CPU
# ($TESSERA_CPU=x86-64-v3) reaches tesserac, so lit can run as an older host would.
for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TESSERA_CPU"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
config.substitutions.append(("%shared", os.path.join(config.tessera_src_root, "..", "shared")))
config.environment["NO_COLOR"] = "1"
config.environment["TERM"] = "dumb"
# FileCheck and the compiler must be found by name in RUN lines as well.
config.environment["PATH"] = os.pathsep.join(
    [os.path.dirname(config.tesserac), os.path.dirname(config.tessera_opt), os.path.dirname(config.filecheck), config.environment.get("PATH", "")])
