import TrainerCommands

// The trainer: PostgreSQL training store → models, artifacts, registry. This file only starts the command
// line; the commands live in the TrainerCommands module (one per file), the behaviour in Training.
//
//   trainer [check]                              apply migrations, check PostgreSQL and the broker
//   trainer bootstrap --dataset ml-100k | --polls | --interactions FILE [...]
//   trainer train --domain movies|polls [--force]
//   trainer promote --version V [--force]
//   trainer rollback --domain movies|polls
//   trainer list [--domain movies|polls]
//   trainer schedule --every 24h [--domain movies,polls] [--retry 30s]
//   trainer evaluate --train F --test F [--ratings-out F] [--topn-out F] [--k 10] [--validation random|latest]
//   trainer --help | --version | --help-config | --config-template | <command> --help
//
// `trainer --generate-completion-script bash|zsh|fish` prints a shell completion script.
// Top-level code would pick ParsableCommand's synchronous `main()` (which refuses an asynchronous root
// command at run time); inside an async function the asynchronous overload is chosen.
func start() async { await TrainerCommand.main() }
await start()
