// refdoc_expert_cxx.cpp - the reference-pages expert (refdoc_expert.c), compiled unchanged as C++.
#include "refdoc_expert.c"
