/* A C program using a Tessera module through its generated header and shared library
 * (aot_test.cpp builds and runs it). Exit status 0 and "aot ok" on success. */
#include <math.h>
#include <stdio.h>

#include "aot_module.h"

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "aot_main.c:%d: check failed: %s\n", __LINE__, #cond); \
      return 1;                                                       \
    }                                                                 \
  } while (0)

int main(void) {
  float x[2][3] = {{1, 2, 3}, {4, 5, 6}};
  int64_t shape[2] = {2, 3};
  tessTensorView in, out;
  int64_t i, j;

  /* scale(tensor<?x3xf32>, f32) -> tensor<?x3xf32> */
  tessTensorViewInit(&in, x, 2, shape);
  CHECK(tess_scale(&in, 2.5f, &out) == TESS_VIEW_SUCCESS);
  CHECK(out.rank == 2 && out.shape[0] == 2 && out.shape[1] == 3);
  CHECK(out.allocated != NULL && out.data != (void*)x);
  for (i = 0; i < 2; ++i)
    for (j = 0; j < 3; ++j) CHECK(((const float*)out.data)[i * out.strides[0] + j * out.strides[1]] == 2.5f * x[i][j]);
  tessTensorViewRelease(&out);
  CHECK(out.allocated == NULL);
  CHECK(x[1][2] == 6.0f); /* inputs are not written */

  /* Wrong static size, wrong rank, null pointers, non-contiguous strides. */
  {
    int64_t wrong[2] = {3, 2};
    tessTensorViewInit(&in, x, 2, wrong);
    CHECK(tess_scale(&in, 1.0f, &out) == TESS_VIEW_SHAPE_MISMATCH);
    tessTensorViewInit(&in, x, 1, shape);
    CHECK(tess_scale(&in, 1.0f, &out) == TESS_VIEW_SHAPE_MISMATCH);
    CHECK(tess_scale(NULL, 1.0f, &out) == TESS_VIEW_INVALID_ARGUMENT);
    tessTensorViewInit(&in, x, 2, shape);
    CHECK(tess_scale(&in, 1.0f, NULL) == TESS_VIEW_INVALID_ARGUMENT);
    in.strides[0] = 4;
    CHECK(tess_scale(&in, 1.0f, &out) == TESS_VIEW_INVALID_ARGUMENT);
  }

  /* dot(tensor<4xf64>, tensor<4xf64>) -> f64 */
  {
    double a[4] = {1, 2, 3, 4}, b[4] = {0.5, -1, 2, 0.25}, result = 0;
    int64_t n = 4;
    tessTensorView va, vb;
    tessTensorViewInit(&va, a, 1, &n);
    tessTensorViewInit(&vb, b, 1, &n);
    CHECK(tess_dot(&va, &vb, &result) == TESS_VIEW_SUCCESS);
    CHECK(fabs(result - 5.5) < 1e-12);
  }

  /* stats(tensor<?xf64>, bool) -> (f64, i64, bool, tensor<?xf64>) */
  {
    double v[5] = {1.5, 2.5, -1, 4, 0.5}, sum = 0;
    int64_t n = 5, count = 0;
    bool flipped = false;
    tessTensorView vv, doubled;
    tessTensorViewInit(&vv, v, 1, &n);
    CHECK(tess_stats(&vv, true, &sum, &count, &flipped, &doubled) == TESS_VIEW_SUCCESS);
    CHECK(fabs(sum - 7.5) < 1e-12);
    CHECK(count == 5);
    CHECK(flipped == false);
    CHECK(doubled.rank == 1 && doubled.shape[0] == 5 && ((const double*)doubled.data)[3] == 8.0);
    tessTensorViewRelease(&doubled);
    CHECK(tess_stats(&vv, false, &sum, &count, &flipped, &doubled) == TESS_VIEW_SUCCESS);
    CHECK(flipped == true);
    tessTensorViewRelease(&doubled);
  }

  /* axpy(tensor<4xf32> donated, tensor<4xf32>) -> tensor<4xf32>: y += 2 x in y's memory */
  {
    float y[4] = {1, 2, 3, 4}, xs[4] = {1, 1, 0.5f, 0};
    int64_t n = 4;
    tessTensorView vy, vx, r;
    tessTensorViewInit(&vy, y, 1, &n);
    tessTensorViewInit(&vx, xs, 1, &n);
    CHECK(tess_axpy(&vy, &vx, &r) == TESS_VIEW_SUCCESS);
    CHECK(r.data == (void*)y && r.allocated == NULL); /* the caller's memory, nothing to free */
    CHECK(y[0] == 3.0f && y[2] == 4.0f && y[3] == 4.0f);
    tessTensorViewRelease(&r);
    /* The donated view must not be another input's memory. */
    CHECK(tess_axpy(&vy, &vy, &r) == TESS_VIEW_INVALID_ARGUMENT);
  }

  printf("aot ok\n");
  return 0;
}
