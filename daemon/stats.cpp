#include "stats.hpp"
