from skynet.cli import main

main()
