from rnnreg.cli import main

main()
