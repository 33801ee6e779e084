import CLI

await LongRoPECommand.main()
