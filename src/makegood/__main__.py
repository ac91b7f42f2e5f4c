from makegood.entrypoints.cli import main

main()
