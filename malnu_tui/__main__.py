from malnu_tui.entry import main

raise SystemExit(main())
