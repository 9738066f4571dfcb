/* A small C99 command-line client of libtessera_rt for tests/numpy_check.py:
 *   npytool print FILE...           print each .npy as print() would, then a line "<<<END>>>"
 *   npytool print-each FILE         print every element of a 1-D .npy as a rank-0 tensor
 *   npytool copy IN OUT             load and save an .npy
 *   npytool copy-transposed IN OUT  save a transposed (strided) view of a 2-D .npy
 *   npytool npz-copy IN OUT         load an .npz and save its arrays again
 *   npytool error FILE              load an .npy and print "ok" or "STATUS: message"
 *   npytool npz-error FILE          the same for an .npz
 *   npytool rand KIND SEED OFFSET N OUT   KIND: uf32 uf64 nf32 nf64; saves the draws
 * Exit status 0 on success, 1 on a runtime error, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/runtime.h"

static const char* status_name(tessStatus_t s) {
  switch (s) {
    case TESS_SUCCESS: return "SUCCESS";
    case TESS_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case TESS_ERROR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case TESS_ERROR_IO: return "IO";
    case TESS_ERROR_BAD_FILE: return "BAD_FILE";
    case TESS_ERROR_SHAPE_MISMATCH: return "SHAPE_MISMATCH";
    case TESS_ERROR_DTYPE_MISMATCH: return "DTYPE_MISMATCH";
    case TESS_ERROR_NO_DEVICE: return "NO_DEVICE";
    case TESS_ERROR_NOT_SUPPORTED: return "NOT_SUPPORTED";
    case TESS_ERROR_NOT_FOUND: return "NOT_FOUND";
    case TESS_ERROR_BUFFER_TOO_SMALL: return "BUFFER_TOO_SMALL";
    case TESS_ERROR_RUNTIME: return "RUNTIME";
    case TESS_ERROR_INTERNAL: return "INTERNAL";
    default: return "UNKNOWN";
  }
}

static int check(tessStatus_t s) {
  if (s == TESS_SUCCESS) return 0;
  fprintf(stderr, "npytool: %s: %s\n", status_name(s), tessGetLastErrorMessage());
  exit(1);
}

static void print_tensor(const tessTensor* t) {
  size_t needed = 0;
  char* buf;
  check(tessFormatTensor(t, NULL, 0, &needed));
  buf = (char*)malloc(needed + 1);
  check(tessFormatTensor(t, buf, needed + 1, NULL));
  fputs(buf, stdout);
  fputc('\n', stdout);
  free(buf);
}

static int cmd_print(int argc, char** argv) {
  int i;
  for (i = 0; i < argc; ++i) {
    tessTensor t;
    check(tessNpyLoad(argv[i], &t));
    print_tensor(&t);
    fputs("<<<END>>>\n", stdout);
    check(tessTensorFree(&t));
  }
  return 0;
}

static int cmd_print_each(const char* path) {
  tessTensor t, e;
  int64_t i;
  size_t size;
  check(tessNpyLoad(path, &t));
  if (t.rank != 1) {
    fprintf(stderr, "npytool: print-each needs a 1-D array\n");
    return 2;
  }
  size = tessDTypeSize(t.dtype);
  for (i = 0; i < t.shape[0]; ++i) {
    check(tessTensorWrap(t.dtype, 0, NULL, NULL, (char*)t.data + i * (int64_t)size, &e));
    print_tensor(&e);
  }
  check(tessTensorFree(&t));
  return 0;
}

static int cmd_copy(const char* in, const char* out, int transpose) {
  tessTensor t, v;
  check(tessNpyLoad(in, &t));
  v = t;
  if (transpose) {
    if (t.rank != 2) {
      fprintf(stderr, "npytool: copy-transposed needs a 2-D array\n");
      return 2;
    }
    v.shape[0] = t.shape[1];
    v.shape[1] = t.shape[0];
    v.strides[0] = t.strides[1];
    v.strides[1] = t.strides[0];
    v.owns = 0;
  }
  check(tessNpySave(out, &v));
  check(tessTensorFree(&t));
  return 0;
}

static int cmd_npz_copy(const char* in, const char* out) {
  tessNpz_t npz;
  size_t n = 0, i;
  const char** names;
  tessTensor* tensors;
  check(tessNpzLoad(in, &npz));
  check(tessNpzCount(npz, &n));
  names = (const char**)malloc((n + 1) * sizeof *names);
  tensors = (tessTensor*)malloc((n + 1) * sizeof *tensors);
  for (i = 0; i < n; ++i) {
    check(tessNpzName(npz, i, &names[i]));
    check(tessNpzGet(npz, names[i], &tensors[i]));
  }
  check(tessNpzSave(out, n, names, tensors));
  check(tessNpzFree(npz));
  free(names);
  free(tensors);
  return 0;
}

static int cmd_error(const char* path, int npz) {
  tessStatus_t s;
  if (npz) {
    tessNpz_t archive;
    s = tessNpzLoad(path, &archive);
    if (s == TESS_SUCCESS) tessNpzFree(archive);
  } else {
    tessTensor t;
    s = tessNpyLoad(path, &t);
    if (s == TESS_SUCCESS) tessTensorFree(&t);
  }
  if (s == TESS_SUCCESS) {
    puts("ok");
  } else {
    printf("%s: %s\n", status_name(s), tessGetLastErrorMessage());
  }
  return 0;
}

static int cmd_rand(const char* kind, const char* seed_text, const char* offset_text, const char* n_text,
                    const char* out) {
  uint64_t seed = strtoull(seed_text, NULL, 0), offset = strtoull(offset_text, NULL, 0);
  int64_t n = (int64_t)strtoll(n_text, NULL, 0);
  int f64 = kind[1] == 'f' && strcmp(kind + 2, "64") == 0;
  tessTensor t;
  check(tessTensorCreate(f64 ? TESS_F64 : TESS_F32, 1, &n, &t));
  if (strcmp(kind, "uf32") == 0) {
    check(tessRandUniformF32(seed, offset, (size_t)n, (float*)t.data));
  } else if (strcmp(kind, "uf64") == 0) {
    check(tessRandUniformF64(seed, offset, (size_t)n, (double*)t.data));
  } else if (strcmp(kind, "nf32") == 0) {
    check(tessRandNormalF32(seed, offset, (size_t)n, (float*)t.data));
  } else if (strcmp(kind, "nf64") == 0) {
    check(tessRandNormalF64(seed, offset, (size_t)n, (double*)t.data));
  } else {
    fprintf(stderr, "npytool: unknown kind %s\n", kind);
    return 2;
  }
  check(tessNpySave(out, &t));
  check(tessTensorFree(&t));
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "print") == 0) return cmd_print(argc - 2, argv + 2);
  if (argc == 3 && strcmp(argv[1], "print-each") == 0) return cmd_print_each(argv[2]);
  if (argc == 4 && strcmp(argv[1], "copy") == 0) return cmd_copy(argv[2], argv[3], 0);
  if (argc == 4 && strcmp(argv[1], "copy-transposed") == 0) return cmd_copy(argv[2], argv[3], 1);
  if (argc == 4 && strcmp(argv[1], "npz-copy") == 0) return cmd_npz_copy(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "error") == 0) return cmd_error(argv[2], 0);
  if (argc == 3 && strcmp(argv[1], "npz-error") == 0) return cmd_error(argv[2], 1);
  if (argc == 7 && strcmp(argv[1], "rand") == 0) return cmd_rand(argv[2], argv[3], argv[4], argv[5], argv[6]);
  fprintf(stderr, "usage: npytool print|print-each|copy|copy-transposed|npz-copy|error|npz-error|rand ...\n");
  return 2;
}
