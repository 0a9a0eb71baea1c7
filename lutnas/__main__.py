from lutnas.cli import main

main()
