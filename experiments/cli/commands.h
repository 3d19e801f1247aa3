// The `confml` command line: one function per subcommand.
//
// Exit codes, for every subcommand: 0 success; 1 the command ran and its
// answer is negative (e.g. a token failed verification); 2 a usage or input
// error (bad arguments, bad config, unreadable file), reported as one line on
// stderr; 3 an internal failure while running.
#pragma once

namespace confml::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNegative = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 3;

// Each takes the arguments after the subcommand name.
int RunCommand(int argc, char** argv);       // confml run CONFIG [key=value ...]
int CheckCommand(int argc, char** argv);     // confml check CONFIG [key=value ...]
int SweepCommand(int argc, char** argv);     // confml sweep CONFIG [key=value ...] [--seeds ...]
int VersionCommand(int argc, char** argv);   // confml version
int PlotCommand(int argc, char** argv);      // confml plot RUN_DIR [OUT_DIR]
int TokenCommand(int argc, char** argv);     // confml token verify TOKEN --cpak KEY.pem [...]
int MeasureCommand(int argc, char** argv);   // confml measure IMAGE_FILE [--hash ...] [--rpv HEX]
int ConfigReferenceCommand(int argc, char** argv);  // confml config-reference [--output=FILE]
int ServeCommand(int argc, char** argv);   // confml serve verifier|runtime|model-provider [...]
int DeviceCommand(int argc, char** argv);  // confml device --runtime ADDR --verifier ADDR [...]

}  // namespace confml::cli
