// The attributes, enums and ops of the `tessera` dialect.
#ifndef TESSERA_IR_GRAPH_TESSERAOPS_H
#define TESSERA_IR_GRAPH_TESSERAOPS_H

#include "ir/graph/TesseraDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/IR/SymbolTable.h"

#include "ir/graph/TesseraEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ir/graph/TesseraAttrs.h.inc"

#define GET_OP_CLASSES
#include "ir/graph/TesseraOps.h.inc"

#endif // TESSERA_IR_GRAPH_TESSERAOPS_H
