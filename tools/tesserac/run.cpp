#include "tools/tesserac/run.h"

#include <unistd.h>

#include <charconv>
#include <iostream>
#include <memory>
#include <optional>

#include <llvm/ADT/SmallString.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/FileSystem.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/raw_ostream.h>
#include <mlir/IR/Diagnostics.h>

#include "codegen/cpu/aot.h"
#include "codegen/cpu/jit.h"
#include "ir/tile/CpuPipeline.h"
#include "tessera/codegen_abi.h"
#include "tessera/runtime.h"

namespace tessera::cli {

namespace {

using codegen::DType;
using codegen::RtValue;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 3;

int runtime_error(const std::string& message) {
  std::cerr << "runtime error: " << message << "\n";
  return kExitRuntime;
}

std::string last_runtime_message(tessStatus_t status) {
  const char* m = tessGetLastErrorMessage();
  return m && *m ? m : tessGetErrorString(status);
}

// One --arg for a parameter of type `want`: a .npy file for a tensor, a number otherwise.
bool parse_arg(const std::string& text, const codegen::ValueType& want, size_t index, RtValue& out,
               std::string& error) {
  if (want.is_tensor) {
    auto t = std::shared_ptr<tessTensor>(new tessTensor{}, [](tessTensor* p) {
      tessTensorFree(p);
      delete p;
    });
    tessStatus_t s = tessNpyLoad(text.c_str(), t.get());
    if (s != TESS_SUCCESS) {
      error = last_runtime_message(s);
      return false;
    }
    DType have = static_cast<DType>(t->dtype);
    if (have != want.dtype) {
      error = text + ": the entry's argument " + std::to_string(index + 1) + " is " + want.str() + ", the file holds " +
              codegen::dtype_name(have) + " values";
      return false;
    }
    if (t->rank != want.rank()) {
      error = text + ": the entry's argument " + std::to_string(index + 1) + " is " + want.str() + ", the file holds a " +
              "rank-" + std::to_string(t->rank) + " array";
      return false;
    }
    std::vector<int64_t> shape(t->shape, t->shape + t->rank), strides(t->strides, t->strides + t->rank);
    for (int32_t i = 0; i < t->rank; ++i) {
      if (want.shape[i] != codegen::ValueType::kDynamic && want.shape[i] != shape[i]) {
        error = text + ": the entry's argument " + std::to_string(index + 1) + " is " + want.str() +
                ", the file's dimension " + std::to_string(i) + " is " + std::to_string(shape[i]);
        return false;
      }
    }
    out = RtValue::tensor_view(have, shape, t->data, strides);
    out.owner = std::shared_ptr<void>(t, t->data);
    return true;
  }
  auto bad = [&] {
    error = "argument " + std::to_string(index + 1) + " ('" + text + "') is not a " + want.str();
    return false;
  };
  const char* b = text.data();
  const char* e = text.data() + text.size();
  switch (want.dtype) {
    case DType::I1:
      if (text == "True" || text == "true" || text == "1") out = RtValue::from_i1(true);
      else if (text == "False" || text == "false" || text == "0") out = RtValue::from_i1(false);
      else return bad();
      return true;
    case DType::I32:
    case DType::I64: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) return bad();
      out = want.dtype == DType::I32 ? RtValue::from_i32(static_cast<int32_t>(v)) : RtValue::from_i64(v);
      return true;
    }
    case DType::F32:
    case DType::F64: {
      double v = 0;
      auto [p, ec] = std::from_chars(b, e, v);
      if (ec != std::errc() || p != e) return bad();
      out = want.dtype == DType::F32 ? RtValue::from_f32(static_cast<float>(v)) : RtValue::from_f64(v);
      return true;
    }
    default: return bad();
  }
}

// A result as the runtime's tensor view (non-owning).
tessTensor view_of(const RtValue& v) {
  tessTensor t{};
  tessTensorWrap(static_cast<tessDType>(v.dtype), static_cast<int32_t>(v.shape.size()), v.shape.data(),
                 v.strides.data(), v.data, &t);
  return t;
}

void print_result(const RtValue& v) {
  tessValue value{};
  tessTensor t{};
  switch (v.kind) {
    case RtValue::Kind::Tensor:
      t = view_of(v);
      value = tessValue{TESS_VALUE_TENSOR, static_cast<int32_t>(v.shape.size()), 0, 0.0, &t};
      break;
    case RtValue::Kind::I1: value = tessValue{TESS_VALUE_BOOL, 0, v.int_value, 0.0, nullptr}; break;
    case RtValue::Kind::I32:
    case RtValue::Kind::I64: value = tessValue{TESS_VALUE_I64, 0, v.int_value, 0.0, nullptr}; break;
    case RtValue::Kind::F32: value = tessValue{TESS_VALUE_F32, 0, 0, v.float_value, nullptr}; break;
    case RtValue::Kind::F64: value = tessValue{TESS_VALUE_F64, 0, 0, v.float_value, nullptr}; break;
  }
  tessPrintValues(&value, 1);
}

}  // namespace

// The CPU back end's options with the Tile IR schedule of ir/tile plugged in. `outline_parallel`
// false keeps parallel loops as scf.parallel (what `emit --stage=tile` shows) instead of
// outlining them into tessParallelFor calls, which is a step of the lowering to LLVM.
static codegen::CpuOptions cpu_options(const std::string& arch, int opt_level, bool deterministic,
                                       bool outline_parallel = true) {
  codegen::CpuOptions cpu;
  cpu.arch = arch.empty() ? "native" : arch;
  cpu.opt_level = opt_level;
  ir::CpuScheduleOptions schedule;
  schedule.deterministic = deterministic;
  schedule.arch = cpu.arch;
  schedule.parallel = outline_parallel;
  cpu.pre_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuTensorSchedule(pm, schedule); };
  cpu.post_bufferization = [schedule](mlir::OpPassManager& pm) { ir::buildCpuBufferSchedule(pm, schedule); };
  return cpu;
}

namespace {

constexpr int kExitUsage = 2;

int usage_error(const std::string& message) {
  std::cerr << "tesserac: error: " << message << "\n";
  return kExitUsage;
}

// An --arch the back end does not know is a usage error, found before anything is compiled.
bool check_target(const codegen::CpuOptions& cpu, int& exit_code) {
  llvm::Expected<codegen::TargetDescription> target = codegen::describe_target(cpu);
  if (target) return true;
  exit_code = usage_error(llvm::toString(target.takeError()));
  return false;
}

// The runtime's environment ($TESSERA_NUM_THREADS): a bad value is a usage error, whether or not
// --threads is given (the runtime refuses the default context with it).
bool check_environment(int& exit_code) {
  tessContext_t context = nullptr;
  if (tessGetDefaultContext(&context) == TESS_SUCCESS) return true;
  std::string message = last_runtime_message(TESS_ERROR_INVALID_ARGUMENT);
  if (message.rfind("tessGetDefaultContext: ", 0) == 0) message = message.substr(23);
  exit_code = usage_error(message);
  return false;
}

// Where `tesserac build` writes: the folder must exist and be writable, and the output must not
// be a folder. Checked before compiling, so that the error is a clear message (exit 2).
bool check_output(const std::string& out, int& exit_code) {
  llvm::SmallString<256> dir(out);
  llvm::sys::fs::make_absolute(dir);
  llvm::sys::path::remove_filename(dir);
  if (llvm::sys::fs::is_directory(out)) {
    exit_code = usage_error("cannot write '" + out + "': it is a directory");
    return false;
  }
  if (!llvm::sys::fs::is_directory(dir)) {
    exit_code = usage_error("cannot write '" + out + "': '" + dir.str().str() + "' " +
                            (llvm::sys::fs::exists(dir) ? "is not a directory" : "does not exist"));
    return false;
  }
  // A file created and removed next to the output: what the permission bits say is not enough
  // (root, read-only file systems, /proc).
  llvm::SmallString<256> probe(dir);
  llvm::sys::path::append(probe, ".tesserac-write-test-%%%%%%");
  int fd = -1;
  llvm::SmallString<256> made;
  if (std::error_code error = llvm::sys::fs::createUniqueFile(probe, fd, made)) {
    exit_code = usage_error("cannot write '" + out + "': " + error.message());
    return false;
  }
  ::close(fd);
  llvm::sys::fs::remove(made);
  return true;
}

// What the C interface of a built library cannot pass (a tensor of rank above 8, a type without
// a C form) is a limitation, reported as such (exit 2) before anything is compiled.
// The entry functions' signatures, or nothing after reporting what their interface cannot pass
// (an f8 tensor, a type without a C form) as a limitation (exit 2), for `run` and `build` alike.
std::optional<std::vector<codegen::EntrySignature>> entry_signatures(mlir::ModuleOp module, int& exit_code) {
  llvm::Expected<std::vector<codegen::EntrySignature>> entries = codegen::collect_entry_signatures(module);
  if (!entries) {
    std::cerr << "tesserac: not yet supported: " << llvm::toString(entries.takeError()) << "\n";
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return std::move(*entries);
}

bool check_c_interface(mlir::ModuleOp module, int& exit_code) {
  std::optional<std::vector<codegen::EntrySignature>> entries = entry_signatures(module, exit_code);
  if (!entries) return false;
  for (const codegen::EntrySignature& entry : *entries)
    for (const auto* list : {&entry.params, &entry.results})
      for (size_t i = 0; i < list->size(); ++i)
        if ((*list)[i].is_tensor && (*list)[i].rank() > codegen::c_abi::kMaxRank) {
          std::cerr << "tesserac: not yet supported: a tensor of rank " << (*list)[i].rank() << " as "
                    << (list == &entry.params ? "argument " : "result ") << i + 1 << " of '" << entry.name
                    << "' in a C library (tessTensorView holds at most " << codegen::c_abi::kMaxRank
                    << " dimensions)\n";
          exit_code = kExitUsage;
          return false;
        }
  return true;
}

// An error of the back end: a file that cannot be written (an error with a system error code) is
// a usage error (exit 2); anything else is a bug in tesserac (exit 101).
int backend_error(llvm::Error e) {
  std::string message;
  std::error_code code;
  llvm::handleAllErrors(std::move(e), [&](const llvm::ErrorInfoBase& info) {
    message += (message.empty() ? "" : "\n") + info.message();
    if (!code) code = info.convertToErrorCode();
  });
  if (code && code != llvm::inconvertibleErrorCode() && code.category() == std::generic_category())
    return usage_error(message + (message.find(code.message()) == std::string::npos ? ": " + code.message() : ""));
  std::cerr << "internal compiler error in code generation: " << message
            << "\nthis is a bug in tesserac, not in your program\n";
  return 101;
}

}  // namespace

int run_module(mlir::ModuleOp module, const RunRequest& request) {
  codegen::CpuOptions cpu = cpu_options(request.arch, request.opt_level, request.deterministic);
  int exit_code = 0;
  if (!check_target(cpu, exit_code) || !check_environment(exit_code)) return exit_code;
  if (request.threads > 0) {
    // Parallel loops run on the default context's pool (tessParallelFor with a NULL context).
    tessContext_t context = nullptr;
    if (tessGetDefaultContext(&context) != TESS_SUCCESS || tessSetNumThreads(context, request.threads) != TESS_SUCCESS)
      return runtime_error(last_runtime_message(TESS_ERROR_INVALID_ARGUMENT));
  }
  if (!entry_signatures(module, exit_code)) return exit_code;
  codegen::JitOptions jit_options;
  // tesserac links the runtime statically without exporting it: hand its entry points over.
  jit_options.symbols = tessCodegenSymbolList();
  auto jit = codegen::JitModule::compile(module, cpu, jit_options);
  if (!jit) {
    std::string message = llvm::toString(jit.takeError());
    std::cerr << "internal compiler error in code generation: " << message
              << "\nthis is a bug in tesserac, not in your program\n";
    return 101;
  }
  // A refused compile-cache entry (damaged, not a regular file) or a cache that cannot be written.
  if (!(*jit)->cache_warning().empty()) std::cerr << "warning: " << (*jit)->cache_warning() << "\n";
  const codegen::EntrySignature* entry = (*jit)->find_entry(request.entry);
  if (!entry) return runtime_error("the program has no entry '" + request.entry + "'");
  if (request.args.size() != entry->params.size())
    return runtime_error("'" + request.entry + "' takes " + std::to_string(entry->params.size()) + " argument(s), " +
                         std::to_string(request.args.size()) + " given with --arg");
  std::vector<RtValue> args(entry->params.size());
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (!parse_arg(request.args[i], entry->params[i], i, args[i], error)) return runtime_error(error);
  }
  auto results = (*jit)->invoke(request.entry, args);
  if (!results) return runtime_error(llvm::toString(results.takeError()));
  if (!request.outs.empty() && request.outs.size() != results->size())
    return runtime_error("'" + request.entry + "' returns " + std::to_string(results->size()) + " value(s), " +
                         std::to_string(request.outs.size()) + " --out file(s) given");
  for (size_t i = 0; i < results->size(); ++i) {
    const RtValue& r = (*results)[i];
    if (request.outs.empty()) {
      print_result(r);
      continue;
    }
    if (!r.is_tensor()) return runtime_error("result " + std::to_string(i + 1) + " is a scalar; --out takes tensors");
    tessTensor t = view_of(r);
    tessStatus_t s = tessNpySave(request.outs[i].c_str(), &t);
    if (s != TESS_SUCCESS) return runtime_error(last_runtime_message(s));
  }
  return kExitOk;
}

int build_module(mlir::ModuleOp module, const BuildRequest& request) {
  codegen::CpuOptions cpu = cpu_options(request.arch, request.opt_level, request.deterministic);
  int exit_code = 0;
  if (request.kind != "header" && !check_target(cpu, exit_code)) return exit_code;
  if (request.kind != "tile" && !check_c_interface(module, exit_code)) return exit_code;
  auto ice = [](llvm::Error e) { return backend_error(std::move(e)); };
  if (request.kind == "tile") {
    // The module after the CPU Tile IR schedule and bufferization: buffers, before LLVM.
    cpu = cpu_options(request.arch, request.opt_level, request.deterministic, /*outline_parallel=*/false);
    mlir::DiagnosticEngine::HandlerID handler = module.getContext()->getDiagEngine().registerHandler(
        [](mlir::Diagnostic& d) {
          std::cerr << "internal compiler error in code generation: " << d.str() << "\n";
          return mlir::success();
        });
    bool ok = mlir::succeeded(codegen::lower_to_buffers(module, cpu));
    module.getContext()->getDiagEngine().eraseHandler(handler);
    if (!ok) {
      std::cerr << "this is a bug in tesserac, not in your program\n";
      return 101;
    }
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os);
    std::cout << text;
    return kExitOk;
  }
  if (request.kind == "llvm") {
    auto text = codegen::emit_llvm_ir(module, cpu, codegen::ObjectKind::Aot);
    if (!text) return ice(text.takeError());
    std::cout << *text;
    return kExitOk;
  }
  std::string out = request.output;
  if (out.empty()) {
    std::string stem = request.input;
    if (auto dot = stem.rfind('.'); dot != std::string::npos && dot > stem.rfind('/') + 1) stem = stem.substr(0, dot);
    out = stem + (request.kind == "shared" ? ".so" : request.kind == "obj" ? ".o" : ".h");
  }
  if (!check_output(out, exit_code)) return exit_code;
  llvm::Error e = llvm::Error::success();
  if (request.kind == "header") {
    e = codegen::emit_c_header(module, out);
  } else if (request.kind == "obj") {
    e = codegen::emit_object(module, out, cpu);
  } else {
    codegen::AotOptions aot;
    aot.runtime_library = TESSERA_RUNTIME_LIBRARY;
    e = codegen::emit_shared_library(module, out, cpu, aot);
  }
  if (e) return ice(std::move(e));
  return kExitOk;
}

}  // namespace tessera::cli
