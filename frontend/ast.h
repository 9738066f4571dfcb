// The Tessera AST: small typed node structs with a static kind (LLVM-style
// isa/cast/dyn_cast), owned by an AstContext, each carrying a source range.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "frontend/source_manager.h"

namespace tessera::ast {

enum class NodeKind : uint8_t {
#define TSR_AST_EXPR(name) name##Expr,
#define TSR_AST_STMT(name) name##Stmt,
#include "frontend/ast_nodes.def"
};

// Range checks for the two families; they rely on the order in ast_nodes.def.
inline constexpr NodeKind kFirstExpr = NodeKind::NameExpr;
inline constexpr NodeKind kLastExpr = NodeKind::ErrorExpr;
inline constexpr NodeKind kFirstStmt = NodeKind::ExprStmt;
inline constexpr NodeKind kLastStmt = NodeKind::ErrorStmt;

std::string_view node_kind_name(NodeKind kind);

struct Node {
  explicit Node(NodeKind k, SourceRange r) : kind(k), range(r) {}
  virtual ~Node() = default;
  NodeKind kind;
  SourceRange range;
};

struct Expr : Node {
  using Node::Node;
  static bool classof(const Node* n) { return n->kind >= kFirstExpr && n->kind <= kLastExpr; }
};

struct Stmt : Node {
  using Node::Node;
  static bool classof(const Node* n) { return n->kind >= kFirstStmt && n->kind <= kLastStmt; }
};

using Body = std::vector<Stmt*>;

template <typename T>
bool isa(const Node* n) {
  return n && T::classof(n);
}
template <typename T>
T* cast(Node* n) {
  return static_cast<T*>(n);
}
template <typename T>
const T* cast(const Node* n) {
  return static_cast<const T*>(n);
}
template <typename T>
T* dyn_cast(Node* n) {
  return isa<T>(n) ? static_cast<T*>(n) : nullptr;
}
template <typename T>
const T* dyn_cast(const Node* n) {
  return isa<T>(n) ? static_cast<const T*>(n) : nullptr;
}

#define TSR_NODE_CLASSOF(K)                                          \
  static constexpr NodeKind Kind = NodeKind::K;                      \
  static bool classof(const Node* n) { return n->kind == NodeKind::K; }

// ---------------------------------------------------------------- expressions

struct NameExpr : Expr {
  TSR_NODE_CLASSOF(NameExpr)
  NameExpr(SourceRange r, std::string n) : Expr(Kind, r), name(std::move(n)) {}
  std::string name;
};

struct IntLiteralExpr : Expr {
  TSR_NODE_CLASSOF(IntLiteralExpr)
  IntLiteralExpr(SourceRange r, std::string s, uint64_t v) : Expr(Kind, r), spelling(std::move(s)), value(v) {}
  std::string spelling;
  uint64_t value;
};

struct FloatLiteralExpr : Expr {
  TSR_NODE_CLASSOF(FloatLiteralExpr)
  FloatLiteralExpr(SourceRange r, std::string s, double v) : Expr(Kind, r), spelling(std::move(s)), value(v) {}
  std::string spelling;
  double value;
};

struct StringLiteralExpr : Expr {
  TSR_NODE_CLASSOF(StringLiteralExpr)
  StringLiteralExpr(SourceRange r, std::string v, bool bytes) : Expr(Kind, r), value(std::move(v)), is_bytes(bytes) {}
  std::string value;  // decoded contents (escapes processed), UTF-8
  bool is_bytes;
};

// One piece of an f-string: literal text, or a replacement field `{expr!r:spec}`.
struct FStringPart {
  std::string text;        // literal text when expr is null
  Expr* expr = nullptr;
  char conversion = 0;     // 'r', 's', 'a' or 0
  std::string format_spec;
};

struct FStringExpr : Expr {
  TSR_NODE_CLASSOF(FStringExpr)
  explicit FStringExpr(SourceRange r) : Expr(Kind, r) {}
  std::vector<FStringPart> parts;
};

struct BoolLiteralExpr : Expr {
  TSR_NODE_CLASSOF(BoolLiteralExpr)
  BoolLiteralExpr(SourceRange r, bool v) : Expr(Kind, r), value(v) {}
  bool value;
};

struct NoneLiteralExpr : Expr {
  TSR_NODE_CLASSOF(NoneLiteralExpr)
  explicit NoneLiteralExpr(SourceRange r) : Expr(Kind, r) {}
};

struct EllipsisLiteralExpr : Expr {
  TSR_NODE_CLASSOF(EllipsisLiteralExpr)
  explicit EllipsisLiteralExpr(SourceRange r) : Expr(Kind, r) {}
};

enum class UnaryOp : uint8_t { Neg, Pos, Invert, Not };
std::string_view unary_op_spelling(UnaryOp op);

struct UnaryExpr : Expr {
  TSR_NODE_CLASSOF(UnaryExpr)
  UnaryExpr(SourceRange r, UnaryOp o, Expr* e) : Expr(Kind, r), op(o), operand(e) {}
  UnaryOp op;
  Expr* operand;
};

enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, MatMul, BitOr, BitAnd, And, Or };
std::string_view binary_op_spelling(BinaryOp op);

struct BinaryExpr : Expr {
  TSR_NODE_CLASSOF(BinaryExpr)
  BinaryExpr(SourceRange r, BinaryOp o, Expr* l, Expr* rr) : Expr(Kind, r), op(o), lhs(l), rhs(rr) {}
  BinaryOp op;
  Expr* lhs;
  Expr* rhs;
  SourceRange op_range;  // the operator token
};

enum class CompareOp : uint8_t { Lt, Gt, Eq, Ne, Le, Ge, In, NotIn, Is, IsNot };
std::string_view compare_op_spelling(CompareOp op);

// `a < b <= c` keeps the chain: first operand, then (op, operand) pairs.
struct CompareExpr : Expr {
  TSR_NODE_CLASSOF(CompareExpr)
  CompareExpr(SourceRange r, Expr* f) : Expr(Kind, r), first(f) {}
  Expr* first;
  std::vector<std::pair<CompareOp, Expr*>> rest;
};

struct ConditionalExpr : Expr {
  TSR_NODE_CLASSOF(ConditionalExpr)
  ConditionalExpr(SourceRange r, Expr* c, Expr* t, Expr* e) : Expr(Kind, r), cond(c), then_value(t), else_value(e) {}
  Expr* cond;
  Expr* then_value;
  Expr* else_value;
};

enum class ParamKind : uint8_t { Normal, VarArgs, KwArgs, PositionalOnlyMarker, KeywordOnlyMarker };

struct Param {
  ParamKind kind = ParamKind::Normal;
  std::string name;
  SourceRange range;            // the whole parameter
  SourceRange name_range;
  Expr* annotation = nullptr;
  Expr* default_value = nullptr;
};

struct LambdaExpr : Expr {
  TSR_NODE_CLASSOF(LambdaExpr)
  explicit LambdaExpr(SourceRange r) : Expr(Kind, r) {}
  std::vector<Param> params;
  Expr* body = nullptr;
};

enum class ArgKind : uint8_t { Positional, Keyword, Star, DoubleStar };

struct Argument {
  ArgKind kind = ArgKind::Positional;
  std::string name;  // for keyword arguments
  SourceRange range;
  SourceRange name_range;
  Expr* value = nullptr;
};

struct CallExpr : Expr {
  TSR_NODE_CLASSOF(CallExpr)
  CallExpr(SourceRange r, Expr* c) : Expr(Kind, r), callee(c) {}
  Expr* callee;
  std::vector<Argument> args;
};

struct AttributeExpr : Expr {
  TSR_NODE_CLASSOF(AttributeExpr)
  AttributeExpr(SourceRange r, Expr* o, std::string n, SourceRange nr)
      : Expr(Kind, r), object(o), name(std::move(n)), name_range(nr) {}
  Expr* object;
  std::string name;
  SourceRange name_range;
};

// `x[i, j]`, `Tensor[B, S, bf16 @accum(f32)]`, `x[..., 1:3]`. Items are
// expressions, SliceExpr, KeywordExpr (`dtype=bf16`) or PolicyExpr (`@accum(f32)`).
struct SubscriptExpr : Expr {
  TSR_NODE_CLASSOF(SubscriptExpr)
  SubscriptExpr(SourceRange r, Expr* o) : Expr(Kind, r), object(o) {}
  Expr* object;
  std::vector<Expr*> indices;
};

struct SliceExpr : Expr {
  TSR_NODE_CLASSOF(SliceExpr)
  explicit SliceExpr(SourceRange r) : Expr(Kind, r) {}
  Expr* lower = nullptr;
  Expr* upper = nullptr;
  Expr* step = nullptr;
};

struct KeywordExpr : Expr {
  TSR_NODE_CLASSOF(KeywordExpr)
  KeywordExpr(SourceRange r, std::string n, Expr* v) : Expr(Kind, r), name(std::move(n)), value(v) {}
  std::string name;
  Expr* value;
};

struct PolicyExpr : Expr {
  TSR_NODE_CLASSOF(PolicyExpr)
  PolicyExpr(SourceRange r, Expr* p) : Expr(Kind, r), policy(p) {}
  Expr* policy;
};

struct StarredExpr : Expr {
  TSR_NODE_CLASSOF(StarredExpr)
  StarredExpr(SourceRange r, Expr* v) : Expr(Kind, r), value(v) {}
  Expr* value;
};

struct TupleExpr : Expr {
  TSR_NODE_CLASSOF(TupleExpr)
  TupleExpr(SourceRange r, bool paren) : Expr(Kind, r), parenthesized(paren) {}
  std::vector<Expr*> elements;
  bool parenthesized;
};

struct ListExpr : Expr {
  TSR_NODE_CLASSOF(ListExpr)
  explicit ListExpr(SourceRange r) : Expr(Kind, r) {}
  std::vector<Expr*> elements;
};

struct SetExpr : Expr {
  TSR_NODE_CLASSOF(SetExpr)
  explicit SetExpr(SourceRange r) : Expr(Kind, r) {}
  std::vector<Expr*> elements;
};

// A dict entry; `**mapping` entries have a null key.
struct DictEntry {
  Expr* key = nullptr;
  Expr* value = nullptr;
};

struct DictExpr : Expr {
  TSR_NODE_CLASSOF(DictExpr)
  explicit DictExpr(SourceRange r) : Expr(Kind, r) {}
  std::vector<DictEntry> entries;
};

enum class ComprehensionKind : uint8_t { List, Set, Dict, Generator };

struct ComprehensionClause {
  bool is_if = false;
  bool is_async = false;
  Expr* target = nullptr;  // for-clauses
  Expr* iter = nullptr;    // for-clauses
  Expr* cond = nullptr;    // if-clauses
};

struct ComprehensionExpr : Expr {
  TSR_NODE_CLASSOF(ComprehensionExpr)
  ComprehensionExpr(SourceRange r, ComprehensionKind k) : Expr(Kind, r), comp_kind(k) {}
  ComprehensionKind comp_kind;
  Expr* element = nullptr;  // the key for dict comprehensions
  Expr* value = nullptr;    // dict comprehensions only
  std::vector<ComprehensionClause> clauses;
};

struct AwaitExpr : Expr {
  TSR_NODE_CLASSOF(AwaitExpr)
  AwaitExpr(SourceRange r, Expr* v) : Expr(Kind, r), value(v) {}
  Expr* value;
};

// Stands in for an expression that failed to parse; later stages skip it.
struct ErrorExpr : Expr {
  TSR_NODE_CLASSOF(ErrorExpr)
  explicit ErrorExpr(SourceRange r) : Expr(Kind, r) {}
};

// ----------------------------------------------------------------- statements

struct ExprStmt : Stmt {
  TSR_NODE_CLASSOF(ExprStmt)
  ExprStmt(SourceRange r, Expr* e) : Stmt(Kind, r), expr(e) {}
  Expr* expr;
};

// `a = b = value` has two targets.
struct AssignStmt : Stmt {
  TSR_NODE_CLASSOF(AssignStmt)
  explicit AssignStmt(SourceRange r) : Stmt(Kind, r) {}
  std::vector<Expr*> targets;
  Expr* value = nullptr;
};

struct AugAssignStmt : Stmt {
  TSR_NODE_CLASSOF(AugAssignStmt)
  AugAssignStmt(SourceRange r, BinaryOp o, Expr* t, Expr* v) : Stmt(Kind, r), op(o), target(t), value(v) {}
  BinaryOp op;
  Expr* target;
  Expr* value;
};

struct AnnAssignStmt : Stmt {
  TSR_NODE_CLASSOF(AnnAssignStmt)
  AnnAssignStmt(SourceRange r, Expr* t, Expr* a, Expr* v) : Stmt(Kind, r), target(t), annotation(a), value(v) {}
  Expr* target;
  Expr* annotation;
  Expr* value;  // may be null (a field declaration)
};

// `w ~ Normal(0, 1)`: a latent variable or, if `w` is bound, an observation.
struct SampleStmt : Stmt {
  TSR_NODE_CLASSOF(SampleStmt)
  SampleStmt(SourceRange r, Expr* t, Expr* d) : Stmt(Kind, r), target(t), distribution(d) {}
  Expr* target;
  Expr* distribution;
  SourceRange tilde_range;
};

struct ReturnStmt : Stmt {
  TSR_NODE_CLASSOF(ReturnStmt)
  ReturnStmt(SourceRange r, Expr* v) : Stmt(Kind, r), value(v) {}
  Expr* value;  // may be null
};

struct PassStmt : Stmt {
  TSR_NODE_CLASSOF(PassStmt)
  explicit PassStmt(SourceRange r) : Stmt(Kind, r) {}
};

struct BreakStmt : Stmt {
  TSR_NODE_CLASSOF(BreakStmt)
  explicit BreakStmt(SourceRange r) : Stmt(Kind, r) {}
};

struct ContinueStmt : Stmt {
  TSR_NODE_CLASSOF(ContinueStmt)
  explicit ContinueStmt(SourceRange r) : Stmt(Kind, r) {}
};

struct AssertStmt : Stmt {
  TSR_NODE_CLASSOF(AssertStmt)
  AssertStmt(SourceRange r, Expr* t, Expr* m) : Stmt(Kind, r), test(t), message(m) {}
  Expr* test;
  Expr* message;  // may be null
};

struct RaiseStmt : Stmt {
  TSR_NODE_CLASSOF(RaiseStmt)
  RaiseStmt(SourceRange r, Expr* e, Expr* c) : Stmt(Kind, r), exception(e), cause(c) {}
  Expr* exception;  // may be null (re-raise)
  Expr* cause;      // may be null
};

// `elif` chains are nested IfStmts (marked is_elif) in the else body.
struct IfStmt : Stmt {
  TSR_NODE_CLASSOF(IfStmt)
  IfStmt(SourceRange r, Expr* c) : Stmt(Kind, r), cond(c) {}
  Expr* cond;
  Body then_body;
  Body else_body;
  bool is_elif = false;
};

struct ForStmt : Stmt {
  TSR_NODE_CLASSOF(ForStmt)
  ForStmt(SourceRange r, Expr* t, Expr* i) : Stmt(Kind, r), target(t), iter(i) {}
  Expr* target;
  Expr* iter;
  Body body;
  Body else_body;
  bool is_async = false;
};

struct WhileStmt : Stmt {
  TSR_NODE_CLASSOF(WhileStmt)
  WhileStmt(SourceRange r, Expr* c) : Stmt(Kind, r), cond(c) {}
  Expr* cond;
  Body body;
  Body else_body;
};

struct WithItem {
  Expr* context = nullptr;
  Expr* target = nullptr;  // may be null
};

struct WithStmt : Stmt {
  TSR_NODE_CLASSOF(WithStmt)
  explicit WithStmt(SourceRange r) : Stmt(Kind, r) {}
  std::vector<WithItem> items;
  Body body;
  bool is_async = false;
};

struct ExceptHandler {
  SourceRange range;
  Expr* type = nullptr;  // may be null (bare except)
  std::string name;      // may be empty
  Body body;
};

struct TryStmt : Stmt {
  TSR_NODE_CLASSOF(TryStmt)
  explicit TryStmt(SourceRange r) : Stmt(Kind, r) {}
  Body body;
  std::vector<ExceptHandler> handlers;
  Body else_body;
  Body finally_body;
};

struct Decorator {
  SourceRange range;  // from '@' to the end of the decorator
  Expr* expr = nullptr;  // a dotted name, optionally called
};

struct GenericParam {
  std::string name;
  SourceRange range;
};

struct FunctionDefStmt : Stmt {
  TSR_NODE_CLASSOF(FunctionDefStmt)
  FunctionDefStmt(SourceRange r, std::string n, SourceRange nr) : Stmt(Kind, r), name(std::move(n)), name_range(nr) {}
  std::string name;
  SourceRange name_range;
  std::vector<Decorator> decorators;
  std::vector<GenericParam> generics;
  std::vector<Param> params;
  Expr* returns = nullptr;
  Body body;
  std::string docstring;
  bool has_docstring = false;
  bool is_async = false;
};

struct ClassDefStmt : Stmt {
  TSR_NODE_CLASSOF(ClassDefStmt)
  ClassDefStmt(SourceRange r, std::string n, SourceRange nr) : Stmt(Kind, r), name(std::move(n)), name_range(nr) {}
  std::string name;
  SourceRange name_range;
  std::vector<Decorator> decorators;
  std::vector<Argument> bases;
  Body body;
  std::string docstring;
  bool has_docstring = false;
};

struct ImportAlias {
  std::string name;   // dotted: "tessera.nn"
  std::string alias;  // may be empty
  SourceRange range;
};

struct ImportStmt : Stmt {
  TSR_NODE_CLASSOF(ImportStmt)
  explicit ImportStmt(SourceRange r) : Stmt(Kind, r) {}
  std::vector<ImportAlias> names;
};

struct ImportFromStmt : Stmt {
  TSR_NODE_CLASSOF(ImportFromStmt)
  explicit ImportFromStmt(SourceRange r) : Stmt(Kind, r) {}
  std::string module;  // dotted, without leading dots
  unsigned level = 0;  // number of leading dots (relative import)
  SourceRange module_range;
  std::vector<ImportAlias> names;
  bool star = false;
};

// Stands in for a statement that failed to parse.
struct ErrorStmt : Stmt {
  TSR_NODE_CLASSOF(ErrorStmt)
  explicit ErrorStmt(SourceRange r) : Stmt(Kind, r) {}
};

#undef TSR_NODE_CLASSOF

// One parsed file.
struct Module {
  uint32_t file = 0;
  SourceRange range;
  Body body;
  std::string docstring;
  bool has_docstring = false;
};

// Owns every node of one or more modules.
class AstContext {
 public:
  template <typename T, typename... Args>
  T* make(Args&&... args) {
    auto node = std::make_unique<T>(std::forward<Args>(args)...);
    T* raw = node.get();
    nodes_.push_back(std::move(node));
    return raw;
  }
  size_t node_count() const { return nodes_.size(); }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace tessera::ast
