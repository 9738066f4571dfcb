#include "tessera/codegen_abi.h"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

TEST_CASE("codegen_abi: a strided random fill gives the contiguous fill's values") {
  std::vector<float> contiguous(8), strided(24, -7.0f);
  tessFillRandom_f32(42, 3, 1, contiguous.data(), contiguous.data(), 0, 8, 1);
  tessFillRandom_f32(42, 3, 1, strided.data(), strided.data(), 1, 8, 3);
  for (int i = 0; i < 8; ++i) {
    CHECK(strided[1 + 3 * i] == contiguous[i]);
    CHECK(strided[3 * i] == -7.0f);  // untouched between the elements
  }
  std::vector<float> expect(8);
  tessRandNormalF32(42, 3, 8, expect.data());
  CHECK(std::memcmp(expect.data(), contiguous.data(), sizeof(float) * 8) == 0);
  std::vector<double> u(5);
  tessFillRandom_f64(1, 0, 0, u.data(), u.data(), 0, 5, 1);
  for (double v : u) CHECK((v >= 0.0 && v < 1.0));
}

TEST_CASE("codegen_abi: the symbol table names every entry point by its address") {
  size_t n = 0;
  const tessSymbol* table = tessCodegenSymbols(&n);
  REQUIRE(n == 19);
  bool found = false;
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(table[i].name, "tessFillRandom_f32") == 0) found = table[i].address == reinterpret_cast<void*>(&tessFillRandom_f32);
  CHECK(found);
  // The parallel-loop lowering (ir/tile) calls tessParallelFor from compiled code.
  bool parallel_for = false;
  for (size_t i = 0; i < n; ++i)
    if (std::strcmp(table[i].name, "tessParallelFor") == 0)
      parallel_for = table[i].address == reinterpret_cast<void*>(&tessParallelFor);
  CHECK(parallel_for);
  CHECK(tessCodegenSymbolList().size() == n);
}
