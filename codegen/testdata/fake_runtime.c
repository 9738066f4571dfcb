/* Stands in for libtessera_rt.so in aot_test.cpp: a runtime function an AOT library links to. */
double tess_fake_twice(double x) { return 2 * x; }
