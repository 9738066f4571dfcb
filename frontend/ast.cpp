// Names and spellings of AST node kinds and operators.
#include "frontend/ast.h"

namespace tessera::ast {

std::string_view node_kind_name(NodeKind kind) {
  switch (kind) {
#define TSR_AST_EXPR(name) \
  case NodeKind::name##Expr: return #name "Expr";
#define TSR_AST_STMT(name) \
  case NodeKind::name##Stmt: return #name "Stmt";
#include "frontend/ast_nodes.def"
  }
  return "?";
}

std::string_view unary_op_spelling(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "-";
    case UnaryOp::Pos: return "+";
    case UnaryOp::Invert: return "~";
    case UnaryOp::Not: return "not";
  }
  return "?";
}

std::string_view binary_op_spelling(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
    case BinaryOp::FloorDiv: return "//";
    case BinaryOp::Mod: return "%";
    case BinaryOp::Pow: return "**";
    case BinaryOp::MatMul: return "@";
    case BinaryOp::BitOr: return "|";
    case BinaryOp::BitAnd: return "&";
    case BinaryOp::And: return "and";
    case BinaryOp::Or: return "or";
  }
  return "?";
}

std::string_view compare_op_spelling(CompareOp op) {
  switch (op) {
    case CompareOp::Lt: return "<";
    case CompareOp::Gt: return ">";
    case CompareOp::Eq: return "==";
    case CompareOp::Ne: return "!=";
    case CompareOp::Le: return "<=";
    case CompareOp::Ge: return ">=";
    case CompareOp::In: return "in";
    case CompareOp::NotIn: return "not in";
    case CompareOp::Is: return "is";
    case CompareOp::IsNot: return "is not";
  }
  return "?";
}

}  // namespace tessera::ast
