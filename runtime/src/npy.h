// The .npy format: header parsing and writing, shared by tessNpy* and the .npz code.
#pragma once

#include <string>

#include "internal.h"

namespace tessera::rt {

struct NpyHeader {
  tessDType dtype = TESS_F32;
  int32_t rank = 0;
  int64_t shape[TESS_MAX_RANK] = {};
  bool fortran_order = false;
  size_t data_offset = 0;  // bytes from the start of the file to the array data
  size_t data_bytes = 0;   // numel * element size
};

// Parses the preamble and header at the start of `data` (which may hold only the beginning
// of the file). Messages start with `name` ("x.npy: ..."). TESS_ERROR_BAD_FILE when the
// bytes are not a valid header; a truncated preamble or header also gives BAD_FILE.
tessStatus_t parse_npy_header(const unsigned char* data, size_t size, const std::string& name, NpyHeader* header);

// Builds a tensor from a parsed header and its data (at least header.data_bytes bytes),
// converting Fortran order to row-major and bool bytes to 0/1.
tessStatus_t npy_tensor_from_data(const NpyHeader& header, const unsigned char* data, tessTensor* out,
                                  const std::string& name);

// The preamble and header numpy.save writes for a validated tensor (format 1.0, or 2.0 when
// the header does not fit), padded so that the data starts at a multiple of 64.
std::string npy_header_bytes(const tessTensor& t);

// Size of the data npy_write_data produces.
size_t npy_data_bytes(const tessTensor& t);

// Streams a validated tensor's elements in row-major order, in pieces of at most 1 MiB, to
// sink(const void* bytes, size_t n) -> bool; bf16 is widened to f32. Returns false as soon
// as the sink does.
bool npy_write_data(const tessTensor& t, bool (*sink)(const void*, size_t, void*), void* sink_data);

// The .npy descr of a dtype as this runtime writes it ("<f4", "|b1"); bf16 gives "<f4".
const char* npy_descr(tessDType dtype);

}  // namespace tessera::rt
