from testkey_nb.cli import main

main()
