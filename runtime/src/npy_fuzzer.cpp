// libFuzzer target: the .npy and .npz parsers must reject any input cleanly.
#include <cstddef>
#include <cstdint>

#include "tessera/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tessTensor t;
  if (tessNpyLoadFromMemory(data, size, &t) == TESS_SUCCESS) {
    size_t needed = 0;
    tessFormatTensor(&t, nullptr, 0, &needed);
    tessTensorFree(&t);
  }
  tessNpz_t npz = nullptr;
  if (tessNpzLoadFromMemory(data, size, &npz) == TESS_SUCCESS) tessNpzFree(npz);
  return 0;
}
