// `e2llm train --nproc N`: N worker processes of this executable on this
// machine, the way torchrun starts them: each gets RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in its
// environment. The launcher forwards Ctrl-C / SIGTERM to the workers (which
// stop after their step, with a checkpoint, and end by the signal; then the
// launcher ends by it too) and, when one fails, gives the others `grace_s` seconds to stop on their own
// (rank 0 reports what broke) before it stops them.
#pragma once
#include <string>
#include <vector>

namespace e2llm::cli {

struct LocalWorkers {
  std::vector<std::string> args;  // the workers' command line, without the executable
  int nproc = 2;
  double grace_s = 10;
};

// Runs the workers to the end. Returns 0 when all of them succeeded, else
// the first failure's exit status (128 + signal for a killed worker); what
// failed is printed on stderr.
int run_local_workers(const LocalWorkers& workers);

}  // namespace e2llm::cli
