#include "data/nifti.h"
