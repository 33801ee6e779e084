// Giving freed heap memory back to the system (glibc keeps freed pages of its heap otherwise).
#include "kernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void lr_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
