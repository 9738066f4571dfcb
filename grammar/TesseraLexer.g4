// Tessera lexer grammar: tokens of the .tsr language (LANGUAGE.md §1).
// NEWLINE tokens are emitted for every physical line end; the frontend's
// IndentingTokenSource turns them into logical NEWLINE/INDENT/DEDENT tokens,
// drops those inside brackets, and reports tabs in indentation (E0001).
lexer grammar TesseraLexer;

tokens { INDENT, DEDENT }

// Keywords.
DEF : 'def';
CLASS : 'class';
RETURN : 'return';
IF : 'if';
ELIF : 'elif';
ELSE : 'else';
FOR : 'for';
IN : 'in';
WHILE : 'while';
WITH : 'with';
AS : 'as';
IMPORT : 'import';
FROM : 'from';
PASS : 'pass';
ASSERT : 'assert';
AND : 'and';
OR : 'or';
NOT : 'not';
IS : 'is';
BREAK : 'break';
CONTINUE : 'continue';
TRUE : 'True';
FALSE : 'False';
NONE : 'None';
LAMBDA : 'lambda';
TRY : 'try';
EXCEPT : 'except';
FINALLY : 'finally';
RAISE : 'raise';
ASYNC : 'async';
AWAIT : 'await';

// Literals.
STRING
    : STRING_PREFIX? ( LONG_DQ | LONG_SQ | SHORT_DQ | SHORT_SQ )
    ;

FLOAT_NUMBER
    : DIGITS '.' DIGITS? EXPONENT?
    | '.' DIGITS EXPONENT?
    | DIGITS EXPONENT
    ;

INT_NUMBER
    : DIGITS
    | '0' [xX] HEX_DIGIT ('_'? HEX_DIGIT)*
    | '0' [oO] [0-7] ('_'? [0-7])*
    | '0' [bB] [01] ('_'? [01])*
    ;

NAME : ID_START ID_CONTINUE*;

// Operators and punctuation.
ELLIPSIS : '...';
DOT : '.';
COMMA : ',';
COLON : ':';
SEMI : ';';
ARROW : '->';
POWER : '**';
STAR : '*';
FLOORDIV : '//';
SLASH : '/';
PERCENT : '%';
PLUS : '+';
MINUS : '-';
AT : '@';
TILDE : '~';
PIPE : '|';
AMP : '&';
EQEQ : '==';
NOTEQ : '!=';
LTE : '<=';
GTE : '>=';
LT : '<';
GT : '>';
BANG : '!';
ASSIGN : '=';
PLUS_ASSIGN : '+=';
MINUS_ASSIGN : '-=';
STAR_ASSIGN : '*=';
SLASH_ASSIGN : '/=';
AT_ASSIGN : '@=';
POWER_ASSIGN : '**=';
FLOORDIV_ASSIGN : '//=';
PERCENT_ASSIGN : '%=';
PIPE_ASSIGN : '|=';
AMP_ASSIGN : '&=';
LPAREN : '(';
RPAREN : ')';
LBRACK : '[';
RBRACK : ']';
LBRACE : '{';
RBRACE : '}';

NEWLINE : '\r'? '\n' | '\r';

// Whitespace inside a line, comments and explicit line joins carry no meaning.
SKIP_WS : [ \t\f]+ -> skip;
COMMENT : '#' ~[\r\n]* -> skip;
LINE_JOIN : '\\' [ \t]* ('\r'? '\n' | '\r') -> skip;

// Unterminated strings get a token of their own so the frontend can say so.
UNTERMINATED_STRING
    : STRING_PREFIX? ( '"' ( STRING_ESCAPE | ~[\\\r\n"] )* | '\'' ( STRING_ESCAPE | ~[\\\r\n'] )* )
    ;

// Any other character is an error token; the parser reports it as E0002.
ERROR_CHAR : . ;

fragment STRING_PREFIX : [fF] | [rR] | [bB] | [fF][rR] | [rR][fF] | [bB][rR] | [rR][bB];
fragment SHORT_DQ : '"' ( STRING_ESCAPE | ~[\\\r\n"] )* '"';
fragment SHORT_SQ : '\'' ( STRING_ESCAPE | ~[\\\r\n'] )* '\'';
fragment LONG_DQ : '"""' ( STRING_ESCAPE | ~'\\' )*? '"""';
fragment LONG_SQ : '\'\'\'' ( STRING_ESCAPE | ~'\\' )*? '\'\'\'';
fragment STRING_ESCAPE : '\\' ( . | '\r'? '\n' );
fragment DIGITS : [0-9] ('_'? [0-9])*;
fragment EXPONENT : [eE] [+-]? DIGITS;
fragment HEX_DIGIT : [0-9a-fA-F];
fragment ID_START : [a-zA-Z_] | [\u00C0-\u024F] | [\u0370-\u03FF] | [\u0400-\u04FF] | [\u4E00-\u9FFF];
fragment ID_CONTINUE : ID_START | [0-9];
