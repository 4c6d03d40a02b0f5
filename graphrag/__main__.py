from graphrag.cli.main import main

main()
