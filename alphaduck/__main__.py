from alphaduck.cli import main

main()
