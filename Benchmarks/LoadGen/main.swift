// loadgen: steady event load through the ingest gateway with end-to-end freshness probes through the
// inference API. The command line and the run are LoadGenCommand; `loadgen --help` lists the options.
// Top-level code would pick ParsableCommand's synchronous `main()` (which refuses an asynchronous root
// command at run time); inside an async function the asynchronous overload is chosen.
func start() async { await LoadGenCommand.main() }
await start()
