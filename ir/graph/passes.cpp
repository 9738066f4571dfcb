// Registration of the Graph IR passes.
#include "ir/graph/Passes.h"

namespace mlir::tessera {

// No Graph IR pass exists yet; passes register themselves here as they land.
void registerTesseraGraphPasses() {}

} // namespace mlir::tessera
