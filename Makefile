# Thin wrapper around CMake for the README's commands.
#   make run    install what is missing, build, start the agent with config/kmswatch.yml
#   make test   install test dependencies, build, run the whole suite normally and
#               under ASan+UBSan
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?= config/kmswatch.yml
WERROR     ?= ON

.PHONY: all deps test-deps build build-asan run test test-normal test-asan bench format check-format clean

all: build

deps:
	scripts/install-deps.sh

test-deps:
	scripts/install-deps.sh --test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMSWATCH_WERROR=$(WERROR)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKMSWATCH_WERROR=$(WERROR) \
		-DKMSWATCH_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: test-deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/kmswatch --config.file=$(CONFIG)

test: test-deps check-format test-normal test-asan

test-normal: test-deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bench/targets.sh

C_SOURCES = $(wildcard agent/*.c include/kmswatch/*.h tests/unit/*.c tests/unit/support/*.[ch] \
	tests/tools/*.c tests/fuzz/*.c tests/kmssim/proto/*.[ch] tests/kmssim/*.[ch])

format:
	clang-format -i $(C_SOURCES)

check-format: test-deps
	clang-format --dry-run --Werror $(C_SOURCES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
