#include "os/release_memory.h"

#include <malloc.h>

namespace otpsup {

void release_free_memory() {
  ::malloc_trim(0);
}

}  // namespace otpsup
