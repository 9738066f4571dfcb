/* Calls tess_main of a library whose main() fits a model with NUTS: the runtime's engines call
   back into the library's compiled log density. */
#include <stdio.h>

#include "inference.h"

int main(void) {
  int status = tess_main();
  printf("status %d\n", status);
  return status;
}
