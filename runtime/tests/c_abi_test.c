/* The runtime's header compiles as strict C99 and the library links into a C program. */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/runtime.h"

static int failures = 0;

#define EXPECT(cond)                                                      \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                         \
    }                                                                     \
  } while (0)

/* A generated-code style loop body: squares its chunk. */
struct Squares {
  double* out;
};

static void square_body(int64_t lo, int64_t hi, void* data) {
  struct Squares* s = (struct Squares*)data;
  int64_t i;
  for (i = lo; i < hi; ++i) s->out[i] = (double)i * (double)i;
}

static void set_flag(void* data) { *(int*)data = 1; }

int main(void) {
  tessContext_t ctx = NULL;
  tessNumericsPolicy policy;
  tessTensor t, back;
  int64_t shape[2] = {2, 3};
  struct Squares sq;
  double out[1000];
  float u[8];
  char text[256];
  size_t needed = 0;
  char path[64];
  int64_t i;
  int flag = 0;
  tessStream_t stream = NULL;
  tessValue values[3];

  /* Sizes and offsets the compiler relies on. */
  EXPECT(sizeof(tessTensor) == 152);
  EXPECT(offsetof(tessTensor, data) == 136);
  EXPECT(sizeof(tessValue) == 32);
  EXPECT(offsetof(tessValue, ptr) == 24);
  EXPECT(sizeof(tessStatus_t) == 4);

  EXPECT(tessInit(&ctx) == TESS_SUCCESS);
  EXPECT(tessSetNumThreads(ctx, 4) == TESS_SUCCESS);
  EXPECT(tessGetNumericsPolicy(ctx, &policy) == TESS_SUCCESS);
  EXPECT(policy.deterministic == 1);

  sq.out = out;
  EXPECT(tessParallelFor(ctx, 0, 1000, 16, square_body, &sq) == TESS_SUCCESS);
  EXPECT(out[999] == 999.0 * 999.0);
  EXPECT(tessParallelFor(NULL, 0, 1000, 16, square_body, &sq) == TESS_SUCCESS);
  EXPECT(tessParallelFor(ctx, 0, 10, 0, square_body, &sq) == TESS_ERROR_INVALID_ARGUMENT);
  EXPECT(strcmp(tessGetLastErrorMessage(), "tessParallelFor: grain must be >= 1, got 0") == 0);
  EXPECT(strcmp(tessGetErrorString(TESS_ERROR_NO_DEVICE), "no such device") == 0);

  EXPECT(tessTensorCreate(TESS_F32, 2, shape, &t) == TESS_SUCCESS);
  ((float*)t.data)[0] = 1.5f;
  ((float*)t.data)[4] = -2.0f;
  EXPECT(tessFormatTensor(&t, text, sizeof text, &needed) == TESS_SUCCESS);
  EXPECT(strcmp(text, "[[ 1.5  0.   0. ]\n [ 0.  -2.   0. ]]") == 0);

  snprintf(path, sizeof path, "/tmp/tessera_c_abi_%ld.npy", (long)getpid());
  EXPECT(tessNpySave(path, &t) == TESS_SUCCESS);
  EXPECT(tessNpyLoad(path, &back) == TESS_SUCCESS);
  EXPECT(back.rank == 2 && back.shape[1] == 3 && ((float*)back.data)[4] == -2.0f);
  EXPECT(tessTensorFree(&back) == TESS_SUCCESS);
  EXPECT(tessNpyLoadExpect(path, TESS_I64, 2, shape, &back) == TESS_ERROR_DTYPE_MISMATCH);
  EXPECT(strstr(tessGetLastErrorMessage(), ": expected dtype <i8, found <f4") != NULL);
  remove(path);

  values[0].kind = TESS_VALUE_STR;
  values[0].ptr = "x:";
  values[1].kind = TESS_VALUE_SHAPE;
  values[1].rank = 2;
  values[1].ptr = shape;
  values[2].kind = TESS_VALUE_F64;
  values[2].f = 1e-5;
  EXPECT(tessFormatValues(values, 3, text, sizeof text, NULL) == TESS_SUCCESS);
  EXPECT(strcmp(text, "x: (2, 3) 1e-05\n") == 0);
  EXPECT(tessTensorFree(&t) == TESS_SUCCESS);

  EXPECT(tessRandUniformF32(0, 0, 8, u) == TESS_SUCCESS);
  for (i = 0; i < 8; ++i) EXPECT(u[i] >= 0.0f && u[i] < 1.0f);
  EXPECT(tessF32ToBF16(1.0f) == 0x3f80);
  EXPECT(tessF16ToF32(tessF32ToF16(0.5f)) == 0.5f);

  EXPECT(tessStreamCreate(ctx, &stream) == TESS_SUCCESS);
  EXPECT(tessStreamEnqueue(stream, set_flag, &flag) == TESS_SUCCESS);
  EXPECT(tessStreamSynchronize(stream) == TESS_SUCCESS);
  EXPECT(flag == 1);
  EXPECT(tessStreamDestroy(stream) == TESS_SUCCESS);

  EXPECT(tessRuntimeError("shape %s does not match", "(3,)") == TESS_ERROR_RUNTIME);
  EXPECT(tessFormatRuntimeError(TESS_ERROR_RUNTIME, text, sizeof text, NULL) == TESS_SUCCESS);
  EXPECT(strcmp(text, "runtime error: shape (3,) does not match") == 0);

  EXPECT(tessShutdown(ctx) == TESS_SUCCESS);
  if (failures == 0) printf("c abi: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
