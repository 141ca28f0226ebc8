// netmon_names_cxx.cpp - the documented-names check (netmon_names.c), compiled unchanged as C++.
#include "netmon_names.c"
