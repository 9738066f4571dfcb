// Tessera parser grammar: the whole .tsr language (LANGUAGE.md §1-§13).
// Type annotations are expressions (as in Python); sema interprets them as types.
// Tensor types add two subscript forms: keywords (`dtype=bf16`) and policies
// (`@accum(f32)`). Written so that most decisions are LL(1): SLL prediction
// parses correct programs without falling back to full LL.
parser grammar TesseraParser;

options { tokenVocab = TesseraLexer; }

file_ : (NEWLINE | statement)* EOF ;

// The expression inside an f-string replacement field, parsed on its own.
fstringField : testListStarExpr EOF ;

statement
    : compoundStmt
    | simpleStmts
    // A line indented without a block header before it. Parsed as a block so
    // that the rest of the file parses normally; the AST builder reports it.
    | INDENT statement+ DEDENT
    ;

simpleStmts : simpleStmt (SEMI simpleStmt)* SEMI? NEWLINE ;

simpleStmt
    : PASS                                                  # passStmt
    | BREAK                                                 # breakStmt
    | CONTINUE                                              # continueStmt
    | RETURN testListStarExpr?                              # returnStmt
    | RAISE (test (FROM test)?)?                            # raiseStmt
    | ASSERT test (COMMA test)?                             # assertStmt
    | IMPORT dottedAsName (COMMA dottedAsName)*             # importStmt
    | FROM fromModule IMPORT importTargets                  # fromImportStmt
    | testListStarExpr exprStmtTail?                        # exprStmt
    ;

// The part after the first expression list of an expression statement decides
// what it is: sampling (`w ~ Normal(0, 1)`), augmented or annotated assignment,
// or a (chained) assignment.
exprStmtTail
    : TILDE test                                            # sampleTail
    | augAssignOp testListStarExpr                          # augAssignTail
    | COLON test (ASSIGN testListStarExpr)?                 # annAssignTail
    | (ASSIGN testListStarExpr)+                            # assignTail
    ;

augAssignOp
    : PLUS_ASSIGN | MINUS_ASSIGN | STAR_ASSIGN | SLASH_ASSIGN | AT_ASSIGN
    | POWER_ASSIGN | FLOORDIV_ASSIGN | PERCENT_ASSIGN | PIPE_ASSIGN | AMP_ASSIGN
    ;

fromModule : DOT* dottedName | DOT+ ;
importTargets : STAR | LPAREN importAsNames COMMA? RPAREN | importAsNames ;
dottedAsName : dottedName (AS NAME)? ;
importAsNames : importAsName (COMMA importAsName)* ;
importAsName : NAME (AS NAME)? ;
dottedName : NAME (DOT NAME)* ;

compoundStmt
    : ifStmt
    | whileStmt
    | forStmt
    | withStmt
    | tryStmt
    | funcDef
    | classDef
    | decorated
    | ASYNC (funcDef | withStmt | forStmt)
    ;

decorated : decorator+ (classDef | funcDef | ASYNC funcDef) ;
decorator : AT dottedName (LPAREN argList? RPAREN)? NEWLINE ;

funcDef : DEF NAME genericParams? LPAREN paramList? RPAREN (ARROW test)? COLON block ;
genericParams : LBRACK NAME (COMMA NAME)* COMMA? RBRACK ;
paramList : param (COMMA param)* COMMA? ;
param
    : NAME (COLON test)? (ASSIGN test)?
    | STAR NAME? (COLON test)?
    | POWER NAME (COLON test)?
    | SLASH
    ;

classDef : CLASS NAME (LPAREN argList? RPAREN)? COLON block ;

block : simpleStmts | NEWLINE INDENT statement+ DEDENT ;

ifStmt : IF test COLON block (ELIF test COLON block)* (ELSE COLON block)? ;
whileStmt : WHILE test COLON block (ELSE COLON block)? ;
forStmt : FOR exprList IN testList COLON block (ELSE COLON block)? ;
withStmt : WITH withItem (COMMA withItem)* COLON block ;
withItem : test (AS primary)? ;
tryStmt
    : TRY COLON block
      ( exceptClause+ (ELSE COLON block)? (FINALLY COLON block)?
      | FINALLY COLON block
      )
    ;
exceptClause : EXCEPT (test (AS NAME)?)? COLON block ;

// Expressions. Binary and prefix operators form one left-recursive rule
// (ANTLR's precedence climbing: earlier alternatives bind tighter), which
// keeps parse trees shallow: Python's one-rule-per-level chain creates a
// dozen contexts for every operand.
testListStarExpr : (test | starExpr) (COMMA (test | starExpr))* COMMA? ;
testList : test (COMMA test)* COMMA? ;
// Targets of `for`, comprehensions and `with ... as`: names, attributes,
// subscripts, tuples of them and starred names (never `a in b`).
exprList : (primary | starExpr) (COMMA (primary | starExpr))* COMMA? ;

test : expr (IF expr ELSE test)? | lambdef ;
testNoCond : expr | lambdefNoCond ;
lambdef : LAMBDA lambdaParams? COLON test ;
lambdefNoCond : LAMBDA lambdaParams? COLON testNoCond ;
lambdaParams : lambdaParam (COMMA lambdaParam)* COMMA? ;
lambdaParam : NAME (ASSIGN test)? | STAR NAME? | POWER NAME ;

expr
    : primary                                               # primaryExpr
    | <assoc = right> expr POWER expr                       # powerExpr
    | op = (PLUS | MINUS | TILDE) expr                      # unaryExpr
    | expr op = (STAR | AT | SLASH | PERCENT | FLOORDIV) expr # mulExpr
    | expr op = (PLUS | MINUS) expr                         # addExpr
    | expr AMP expr                                         # bitAndExpr
    | expr PIPE expr                                        # bitOrExpr
    | expr compOp expr                                      # compareExpr
    | NOT expr                                              # notExpr
    | expr AND expr                                         # andExpr
    | expr OR expr                                          # orExpr
    ;
// Two-token operators come first: `a is not b` is never `a is (not b)`.
compOp : IS NOT | NOT IN | LT | GT | EQEQ | GTE | LTE | NOTEQ | IN | IS ;
starExpr : STAR expr ;
primary : AWAIT? atom trailer* ;

atom
    : LPAREN testListComp? RPAREN                           # parenAtom
    | LBRACK testListComp? RBRACK                           # listAtom
    | LBRACE dictOrSetMaker? RBRACE                         # braceAtom
    | NAME                                                  # nameAtom
    | INT_NUMBER                                            # intAtom
    | FLOAT_NUMBER                                          # floatAtom
    | STRING+                                               # stringAtom
    | ELLIPSIS                                              # ellipsisAtom
    | NONE                                                  # noneAtom
    | TRUE                                                  # trueAtom
    | FALSE                                                 # falseAtom
    ;

testListComp : (test | starExpr) (compFor | (COMMA (test | starExpr))* COMMA?) ;

trailer
    : LPAREN argList? RPAREN                                # callTrailer
    | LBRACK subscriptList RBRACK                           # indexTrailer
    | DOT NAME                                              # attrTrailer
    ;

subscriptList : subscript (COMMA subscript)* COMMA? ;
subscript
    : AT primary                                            # policySubscript
    | NAME ASSIGN test                                      # keywordSubscript
    | test (COLON test? sliceStep?)?                        # testSubscript
    | COLON test? sliceStep?                                # openSliceSubscript
    ;
sliceStep : COLON test? ;

argList : argument (COMMA argument)* COMMA? ;
argument
    : NAME ASSIGN test                                      # keywordArgument
    | STAR test                                             # starArgument
    | POWER test                                            # doubleStarArgument
    | test compFor?                                         # positionalArgument
    ;

compFor : ASYNC? FOR exprList IN expr compIter? ;
compIter : compFor | compIf ;
compIf : IF testNoCond compIter? ;

dictOrSetMaker
    : dictEntry (compFor | (COMMA dictEntry)* COMMA?)
    | (test | starExpr) (compFor | (COMMA (test | starExpr))* COMMA?)
    ;
dictEntry : test COLON test | POWER expr ;
