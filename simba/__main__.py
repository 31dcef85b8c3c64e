from simba.cli import main

main()
