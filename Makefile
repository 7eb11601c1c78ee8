# concd — make demo runs the main job, make test runs every test.
PREFIX ?= /usr/local
SWIFT ?= swift

.PHONY: all deps build demo test clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release

demo: build
	scripts/demo.sh

# Tests run against release builds so that what they show about speed (the CPU loop doing O(n) work)
# holds for the binaries users run.
test: deps
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

clean:
	rm -rf .build
