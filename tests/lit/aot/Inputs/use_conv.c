/* Calls build_cpu_levels.tsr's round_trip (built for x86-64-v2) through the generated header. */
#include <stdio.h>

#include "conv.h"

int main(void) {
  float x[4] = {1.0f, 0.1f, -3.3333333f, 65504.0f};
  int64_t shape[1] = {4};
  tessTensorView in, out;
  tessTensorViewInit(&in, x, 1, shape);
  int32_t s = tess_round_trip(&in, &out);
  printf("status %d:", s);
  for (int i = 0; i < 4; ++i) printf(" %f", ((float*)out.data)[i]);
  printf("\n");
  tessTensorViewRelease(&out);
  return 0;
}
