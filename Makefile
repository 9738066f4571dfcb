# The two commands of the README: `make demo` and `make test`.
# Both install what is missing (scripts/setup.sh), configure and build first.
BUILD ?= build
JOBS ?= $(shell nproc)
CXX_COMPILER ?= clang++-19
C_COMPILER ?= clang-19

.PHONY: all setup configure build demo test test-sanitize bench bench-setup clean

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja: CMakeLists.txt | setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_CXX_COMPILER=$(CXX_COMPILER) -DCMAKE_C_COMPILER=$(C_COMPILER) >/dev/null

configure: setup $(BUILD)/build.ninja

build: configure
	@ninja -C $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The unit, lit and conformance tests again, with every target of ours built with
# AddressSanitizer and UndefinedBehaviorSanitizer in $(SAN_BUILD) (docs/testing.md).
SAN_BUILD ?= build-sanitize
SAN_TESTS = ^(unit|runtime|runtime_c_abi|ir_graph_unit|ir_autodiff_unit|tile|codegen|codegen_aot|lit|conformance)$$
test-sanitize: setup
	@cmake -S . -B $(SAN_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=$(CXX_COMPILER) -DCMAKE_C_COMPILER=$(C_COMPILER) -DTESSERA_SANITIZE=ON >/dev/null
	@ninja -C $(SAN_BUILD) -j $(JOBS)
	@cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:allow_user_poisoning=0:suppressions=$(CURDIR)/tests/sanitize/asan.supp \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -R '$(SAN_TESTS)'

# The benchmarks' own peers (rstan for the NUTS benchmark) are installed here, not in `setup`,
# so that `make test` never waits for R.
bench-setup:
	@bash scripts/setup_bench.sh

bench: build bench-setup
	@bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
