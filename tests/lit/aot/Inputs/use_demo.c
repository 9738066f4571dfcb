/* Calls the functions of build_c_abi.tsr through the generated header. */
#include <stdio.h>

#include "demo.h"

int main(void) {
  float x[6] = {0, 1, 2, 3, 4, 5};
  int64_t shape[2] = {2, 3};
  tessTensorView in, out, sums;
  tessTensorViewInit(&in, x, 2, shape);
  int32_t s = tess_scale(&in, 1.0, &out);
  printf("scale status %d:", s);
  for (int i = 0; i < 6; ++i) printf(" %.1f", ((float*)out.data)[i]);
  printf("\n");
  tessTensorViewRelease(&out);
  s = tess_rowsum(&in, &sums);
  printf("rowsum status %d:", s);
  for (int i = 0; i < 2; ++i) printf(" %.1f", ((float*)sums.data)[i]);
  printf("\n");
  tessTensorViewRelease(&sums);
  tessTensorView bad;
  int64_t shape1[1] = {6};
  tessTensorViewInit(&bad, x, 1, shape1);
  printf("bad rank status %d\n", tess_rowsum(&bad, &sums));
  return 0;
}
