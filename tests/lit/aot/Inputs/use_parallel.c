/* Calls build_parallel.tsr's softmax and prints a checksum of the output bits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par.h"

int main(void) {
  enum { R = 512, C = 1000 };
  float* x = malloc(sizeof(float) * R * C);
  for (int i = 0; i < R * C; ++i) x[i] = (float)(((long long)i * 7919) % 2003) / 100.0f - 10.0f;
  int64_t shape[2] = {R, C};
  tessTensorView in, out;
  tessTensorViewInit(&in, x, 2, shape);
  int32_t s = tess_probs(&in, &out);
  printf("status %d\n", s);
  const float* y = (const float*)out.data;
  int ok = 1;
  for (int r = 0; r < R; ++r) {
    double sum = 0;
    for (int c = 0; c < C; ++c) sum += y[r * C + c];
    if (fabs(sum - 1.0) > 1e-4) ok = 0;
  }
  printf("rows sum to 1: %s\n", ok ? "yes" : "no");
  unsigned long long h = 1469598103934665603ULL;
  for (int i = 0; i < R * C; ++i) {
    unsigned int b;
    memcpy(&b, &y[i], 4);
    h = (h ^ b) * 1099511628211ULL;
  }
  printf("bits %016llx\n", h);
  tessTensorViewRelease(&out);
  free(x);
  return 0;
}
