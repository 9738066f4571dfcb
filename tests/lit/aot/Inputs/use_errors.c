/* Calls the functions of build_errors.tsr with bad arguments and a run-time error: each call
 * returns a status with a message (tessGetLastErrorMessage), none ends this process, and good
 * calls still work afterwards. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static void report(const char* what, int32_t status) {
  const char* message = tessGetLastErrorMessage();
  printf("%s: status %d: %s\n", what, status, message);
}

/* A view set up by hand (tessTensorViewInit would multiply sizes that overflow). */
static void view(tessTensorView* v, void* data, int64_t rank, const int64_t* shape, const int64_t* strides) {
  int64_t d;
  memset(v, 0, sizeof *v);
  v->data = data;
  v->rank = rank;
  for (d = 0; d < rank; ++d) {
    v->shape[d] = shape[d];
    v->strides[d] = strides[d];
  }
}

int main(void) {
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, big[8] = {0};
  int64_t a_shape[2] = {2, 3}, b_shape[2] = {3, 2}, wrong_shape[2] = {2, 3};
  tessTensorView va, vb, out;
  int32_t s;
  int i;

  tessTensorViewInit(&va, a, 2, a_shape);
  tessTensorViewInit(&vb, b, 2, b_shape);

  /* 1. A NULL view, and NULL data for a non-empty view. */
  s = tess_mm(NULL, &vb, &out);
  report("null view", s);
  tessTensorViewInit(&va, NULL, 2, a_shape);
  s = tess_mm(&va, &vb, &out);
  report("null data", s);
  tessTensorViewInit(&va, a, 2, a_shape);

  /* 2. A shape whose byte count overflows int64_t (2^32 x 2^31 floats). */
  {
    int64_t huge[2] = {(int64_t)1 << 32, (int64_t)1 << 31}, strides[2] = {(int64_t)1 << 31, 1};
    tessTensorView vh;
    view(&vh, big, 2, huge, strides);
    s = tess_mm(&vh, &vb, &out);
    report("overflowing shape", s);
  }

  /* 3. Mismatched dimensions: K is 3 in a, 2 in b. */
  {
    tessTensorView vw;
    tessTensorViewInit(&vw, b, 2, wrong_shape);
    s = tess_mm(&va, &vw, &out);
    report("mismatched K", s);
  }

  /* 4. A run-time error inside the compiled code: an index out of range. */
  s = tess_row(&va, 7, &out);
  report("index error", s);

  /* 5. Good calls still work, and leave no message. */
  s = tess_mm(&va, &vb, &out);
  printf("mm: status %d, message '%s', shape %lld x %lld:", s, tessGetLastErrorMessage(), (long long)out.shape[0],
         (long long)out.shape[1]);
  for (i = 0; i < 4; ++i) printf(" %.1f", ((const float*)out.data)[i]);
  printf("\n");
  tessTensorViewRelease(&out);
  s = tess_row(&va, -1, &out);
  printf("row: status %d:", s);
  for (i = 0; i < 3; ++i) printf(" %.1f", ((const float*)out.data)[i]);
  printf("\n");
  tessTensorViewRelease(&out);
  return 0;
}
