// Precompiled header: torch/torch.h alone costs ~15 s per translation unit.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <string>
#include <vector>
#include <memory>
