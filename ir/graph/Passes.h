// Passes on the Graph IR. Each pass has one creation function here; its
// patterns stay private to its .cpp.
#ifndef TESSERA_IR_GRAPH_PASSES_H
#define TESSERA_IR_GRAPH_PASSES_H

namespace mlir::tessera {

// Registers every Graph IR pass with MLIR's pass registry, so that
// tessera-opt and pass pipelines given as text can name them.
void registerTesseraGraphPasses();

} // namespace mlir::tessera

#endif // TESSERA_IR_GRAPH_PASSES_H
