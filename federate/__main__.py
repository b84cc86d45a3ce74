from federate.cli import main

main()
