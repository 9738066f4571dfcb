// Every op defined in TesseraOps.td has a round-trip test in roundtrip.mlir.
// RUN: %python %S/check_op_coverage.py %S/../../../ir/graph/TesseraOps.td %S/roundtrip.mlir | FileCheck %s
// CHECK: [[N:[0-9]+]] of [[N]] ops covered
