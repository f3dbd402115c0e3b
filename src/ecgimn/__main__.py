from ecgimn.cli import main
import sys
sys.exit(main())
