package templates
import ("testing";"fmt";"strings")
func TestZZDump(t *testing.T){
	tpl := mustCompile(t, realisticSource())
	fmt.Println("fast:", tpl.fast != nil)
	for _, l := range strings.Split(tpl.html.Tree.Root.String(), "\n") { if strings.Contains(l, "urlquery") || strings.Contains(l, "kunde") { fmt.Println(l) } }
	for _, l := range strings.Split(tpl.text.Tree.Root.String(), "\n") { if strings.Contains(l, "urlquery") { fmt.Println(l) } }
}
