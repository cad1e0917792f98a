# The two commands of the README: `make demo` and `make test`.
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all setup build test demo bench asan fuzz clean format

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash bench/run.sh $(BUILD)

# AddressSanitizer + UndefinedBehaviorSanitizer build and tests.
asan: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCSM_SANITIZE=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ctest --output-on-failure -j$(JOBS)

# libFuzzer harnesses (fuzz/README.md): clang, ASan + UBSan, into build-fuzz.
# Campaigns: fuzz/run.sh HARNESS SECONDS.
fuzz: setup
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCSM_FUZZ=ON \
	  -DCSM_WERROR=OFF -DBUILD_TESTING=OFF
	cmake --build build-fuzz -j$(JOBS) --target fuzzers

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) build-asan build-fuzz
