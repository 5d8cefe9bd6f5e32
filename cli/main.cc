// The connfail executable: the built-in server kinds, client behaviours and
// variants, nothing else. A program that registers its own and calls
// connfail::cli_main is the same CLI, knowing them too.
#include "connfail/cli/cli.h"

int main(int argc, char** argv) { return connfail::cli_main(argc, argv); }
