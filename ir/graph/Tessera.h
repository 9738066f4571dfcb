// Everything of the `tessera` dialect: the dialect, its attributes, enums and
// ops. Code that builds or inspects Graph IR includes this one header.
#ifndef TESSERA_IR_GRAPH_TESSERA_H
#define TESSERA_IR_GRAPH_TESSERA_H

#include "ir/graph/TesseraDialect.h"
#include "ir/graph/TesseraOps.h"

#endif // TESSERA_IR_GRAPH_TESSERA_H
