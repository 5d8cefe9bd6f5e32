#include <gtest/gtest.h>
#include "scenarios/parser.h"
TEST(Smoke, Builds) {}
